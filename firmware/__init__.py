"""The firmware's sources (C for the SoC's CPU), shipped as package data: the flow compiles
them (host/simulation.py, catsnn build) with the headers LiteX generates for each SoC."""
