"""The metadata codec: compress (RAW, sRGB) into a `.r2lcm` bitstream and back."""
