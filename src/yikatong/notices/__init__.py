"""Notices to holders: text messages (SMS) through the `SmsGateway` seam, each one recorded."""
