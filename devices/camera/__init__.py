"""Cameras and document cameras: the port, the OpenCV driver, emulators and generated scenes."""
