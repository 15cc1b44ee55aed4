"""The card registry and the whole card lifecycle: losses, unblock, hand-over of
replacement and exchange cards, the financial copy kept through the bank interface,
expiry of the financial function, transfer out of the province."""
