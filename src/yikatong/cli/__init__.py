"""The `ykt` command for operators."""
