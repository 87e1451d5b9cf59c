"""costmodel: energy and area of fixed-point training schemes, from sourced primitive tables."""
