"""Reporting: turning typed results into what people read. Terminal tables (rich on a terminal, plain text in a
log), progress bars, and the lines under each table. Imports no TensorFlow."""
