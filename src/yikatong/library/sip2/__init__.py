"""A SIP2 server (3M Standard Interchange Protocol v2) for library self-service kiosks.

codec.py is the wire format, session.py one kiosk's conversation (it calls only the
PatronAuthority and the LibrarySystem of library/protocols.py, and KioskAccounts for the login),
server.py the TCP server, cli.py `ykt library sip2-serve`. docs/library-sip2.md says what each
message does here.
"""
