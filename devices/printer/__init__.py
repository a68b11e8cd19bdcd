"""Receipt printers: the port, an ESC/POS driver (python-escpos) and a TCP emulator."""
