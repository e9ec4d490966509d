"""How a simulated station reaches a CSMS: what every version's link is made of, and the full and lean dialers."""
