"""The three applications on the chip: their file layouts (for personalisation) and the
decoders of what they hold (for the terminal). Both sides import the same constants."""
