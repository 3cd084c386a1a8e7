"""A small, deterministic camera ISP (RAW -> raw-RGB -> sRGB) and its naive inverse."""
