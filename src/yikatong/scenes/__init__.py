"""Scenes that play several domains together on the injectable clock (`ykt simulate weekend`)."""
