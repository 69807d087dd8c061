"""The shipped demo dataset and the script that writes it."""
