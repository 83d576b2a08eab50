package orders

// Unit states on the line: what became of a serial granted to an order
// once it was used. (The supply chain's states, shipped, returned and
// received, are package supply's.)
const (
	StateCommissioned   = "commissioned"
	StateDecommissioned = "decommissioned"
	StateVoided         = "voided"
)
