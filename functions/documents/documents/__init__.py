"""The documents window: citizens store PDFs and photos; each document belongs to the token's ``sub``."""
