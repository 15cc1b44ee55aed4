"""Applications: from intake to a card in hand (申领、制卡、递送、领卡)."""
