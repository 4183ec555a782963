"""The Olist Brazilian e-commerce sample, converted into Catena's leg import format (`convert`)."""
