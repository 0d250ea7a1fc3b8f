"""The payments window: citizens pay fees; each payment belongs to the token's ``sub``."""
