package arena

// Headings are 0..255 (a full turn is 256 units, 0 points along +X, 64
// along +Y). sinTable[h] is sin(2πh/256) scaled by TrigOne. It is computed
// at start-up with integer arithmetic only (a Taylor series in 2^-30 fixed
// point), so every machine gets bit-identical values without trusting a
// float library or a hand-typed table.
const (
	Headings = 256
	TrigOne  = 1 << 14
)

var sinTable = makeSinTable()

// piQ30 is π·2^30, rounded.
const piQ30 = 3373259426

func makeSinTable() [Headings]int32 {
	var t [Headings]int32
	for i := 0; i <= Headings/4; i++ {
		x := int64(i) * piQ30 / (Headings / 2) // angle in Q30, ≤ π/2
		x2 := x * x >> 30
		term, sum := x, x
		for k := int64(1); k <= 8; k++ {
			term = -(term * x2 >> 30) / ((2 * k) * (2*k + 1))
			sum += term
		}
		v := int32((sum + 1<<15) >> 16) // Q30 → Q14, rounded
		t[i] = v
		t[Headings/2-i] = v
		t[Headings/2+i] = -v
		t[(Headings-i)%Headings] = -v
	}
	t[Headings/2] = 0 // sin π; the mirror above wrote it from i=0 already
	return t
}

// Sin is sin(2πh/256)·TrigOne.
func Sin(h uint8) int32 { return sinTable[h] }

// Cos is cos(2πh/256)·TrigOne.
func Cos(h uint8) int32 { return sinTable[uint8(h+Headings/4)] }
