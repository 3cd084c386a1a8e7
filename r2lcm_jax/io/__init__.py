"""File input/output: camera RAWs (rawpy), 8/16-bit PNG, 16-bit TIFF, JPEG."""
