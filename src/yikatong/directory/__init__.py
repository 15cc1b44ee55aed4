"""Reference data: partner banks, outlets, service hotlines (名录 / 参考数据)."""
