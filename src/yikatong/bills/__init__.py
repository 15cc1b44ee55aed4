"""Payments out of the card account (缴费): flexible-employment and residents' contributions,
personnel exam fees and utility bills, paid from the account of the holder's current live card
through the bank interface (BankGateway.pay_from_account), with a receipt and a refund path.
See docs/bills.md."""
