"""Transit: the T-Union e-wallet, top-ups, fares and discounts, taps and clearing."""
