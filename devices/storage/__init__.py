"""Removable media (USB sticks): the port, the Linux mount-table driver and an emulated stick."""
