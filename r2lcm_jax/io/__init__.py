"""File input/output: camera RAWs (rawpy), 8/16-bit PNG, 16-bit TIFF, JPEG, DNG, and the
atomic file writer every output goes through (`atomic`)."""
