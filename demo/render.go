package demo

import (
	"bytes"
	"image/color"
	"math"
	"sync"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/examples/resources/fonts"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"github.com/paxsync/paxsync/gamestate/arena"
)

// Screen layout in logical pixels: the 800×600 arena at (arenaX, arenaY),
// a side panel to its right. The arena maps 1:1 to arena pixels
// (arena.Width/arena.Unit), so nothing is scaled by a non-integer factor.
const (
	arenaX       = 16
	arenaY       = 40
	arenaW       = arena.Width / arena.Unit
	arenaH       = arena.Height / arena.Unit
	panelX       = arenaX + arenaW + 16
	panelW       = 300
	ScreenWidth  = panelX + panelW + 16
	ScreenHeight = arenaY + arenaH + 40
)

// Palette. Red is reserved for cheater flags so it is never confused with a
// player's colour.
var (
	colBackground = color.RGBA{0x0b, 0x0f, 0x1a, 0xff}
	colArena      = color.RGBA{0x10, 0x16, 0x26, 0xff}
	colGrid       = color.RGBA{0x1a, 0x22, 0x36, 0xff}
	colBorder     = color.RGBA{0x8a, 0x9b, 0xc4, 0xff}
	colText       = color.RGBA{0xe6, 0xea, 0xf2, 0xff}
	colDim        = color.RGBA{0x7d, 0x87, 0x9c, 0xff}
	colPanel      = color.RGBA{0x14, 0x1b, 0x2c, 0xff}
	colCheater    = color.RGBA{0xff, 0x1a, 0x1a, 0xff}
	colCheaterBg  = color.RGBA{0x5a, 0x08, 0x0c, 0xff}
	colOK         = color.RGBA{0x3d, 0xdc, 0x84, 0xff}
	colWarn       = color.RGBA{0xf5, 0xb7, 0x31, 0xff}
)

// PlayerColors are the seats' colours: bright, distinct, none of them red.
var PlayerColors = [arena.MaxSeats]color.RGBA{
	{0x4c, 0xc9, 0xf0, 0xff}, // sky
	{0xff, 0xa6, 0x2b, 0xff}, // orange
	{0x80, 0xed, 0x99, 0xff}, // mint
	{0xc7, 0x7d, 0xff, 0xff}, // violet
	{0xff, 0xe0, 0x66, 0xff}, // yellow
	{0xf7, 0x8f, 0xd0, 0xff}, // pink
	{0x5e, 0x8b, 0xff, 0xff}, // blue
	{0xb8, 0xf2, 0xe6, 0xff}, // ice
}

var (
	fontOnce   sync.Once
	fontSource *text.GoTextFaceSource
)

// face returns the UI font at size px. The font ships inside the Ebiten
// module, so the demo needs no font files at run time.
func face(size float64) *text.GoTextFace {
	fontOnce.Do(func() {
		s, err := text.NewGoTextFaceSource(bytes.NewReader(fonts.MPlus1pRegular_ttf))
		if err != nil {
			panic("demo: embedded font: " + err.Error())
		}
		fontSource = s
	})
	return &text.GoTextFace{Source: fontSource, Size: size}
}

// drawText draws s with its top-left corner at (x, y).
func drawText(dst *ebiten.Image, s string, size, x, y float64, c color.Color) {
	op := &text.DrawOptions{}
	op.GeoM.Translate(x, y)
	op.ColorScale.ScaleWithColor(c)
	text.Draw(dst, s, face(size), op)
}

// textWidth is the advance of s at size.
func textWidth(s string, size float64) float64 { return text.Advance(s, face(size)) }

// drawArena draws the playing field, bullets and ships of v.
func drawArena(dst *ebiten.Image, v *view) {
	vector.FillRect(dst, arenaX, arenaY, arenaW, arenaH, colArena, false)
	for x := 50; x < arenaW; x += 50 {
		vector.StrokeLine(dst, float32(arenaX+x), arenaY, float32(arenaX+x), arenaY+arenaH, 1, colGrid, false)
	}
	for y := 50; y < arenaH; y += 50 {
		vector.StrokeLine(dst, arenaX, float32(arenaY+y), arenaX+arenaW, float32(arenaY+y), 1, colGrid, false)
	}
	vector.StrokeRect(dst, arenaX-1, arenaY-1, arenaW+2, arenaH+2, 2, colBorder, true)
	if v.cur == nil {
		msg := "waiting for the first agreed tick…"
		drawText(dst, msg, 18, arenaX+arenaW/2-textWidth(msg, 18)/2, arenaY+arenaH/2-10, colDim)
		return
	}
	for _, b := range lerpBullets(v.cur, v.alpha) {
		c := seatColor(b.Owner)
		vector.FillCircle(dst, float32(arenaX+b.X), float32(arenaY+b.Y), 4, withAlpha(c, 0x50), true)
		vector.FillCircle(dst, float32(arenaX+b.X), float32(arenaY+b.Y), 2, c, true)
	}
	poses := lerpShips(v.prev, v.cur, v.alpha)
	for i, p := range poses {
		drawShip(dst, i, p, v)
	}
}

// drawShip draws one ship as a triangle in its seat colour, with its label;
// a proven cheater gets a red ring and a CHEATER tag in the arena too, so
// the flag is visible where the player is looking.
func drawShip(dst *ebiten.Image, seat int, p shipPose, v *view) {
	x, y := arenaX+p.X, arenaY+p.Y
	c := seatColor(seat)
	cheater := seat < len(v.flags) && v.flags[seat] != nil
	if !p.Alive {
		secs := float64(p.Respawn) / max(v.tickRate, 1)
		s := "respawn " + ftoa(secs, 1) + "s"
		drawText(dst, s, 12, x-textWidth(s, 12)/2, y-8, withAlpha(c, 0xa0))
		return
	}
	const r = 13.0
	pt := func(angle, radius float64) (float32, float32) {
		return float32(x + math.Cos(angle)*radius), float32(y + math.Sin(angle)*radius)
	}
	var path vector.Path
	path.MoveTo(pt(p.Angle, r*1.3))
	path.LineTo(pt(p.Angle+2.45, r))
	path.LineTo(pt(p.Angle+math.Pi, r*0.45))
	path.LineTo(pt(p.Angle-2.45, r))
	path.Close()
	op := &vector.DrawPathOptions{AntiAlias: true}
	op.ColorScale.ScaleWithColor(c)
	vector.FillPath(dst, &path, nil, op)
	if seat == v.local {
		vector.StrokeCircle(dst, float32(x), float32(y), r+6, 1.5, withAlpha(c, 0x90), true)
	}
	label := playerName(v, seat)
	lc := withAlpha(c, 0xd0)
	if cheater {
		vector.StrokeCircle(dst, float32(x), float32(y), r+9, 3, colCheater, true)
		tag := "CHEATER"
		tw := textWidth(tag, 12)
		vector.FillRect(dst, float32(x-tw/2-4), float32(y-r-34), float32(tw+8), 17, colCheater, false)
		drawText(dst, tag, 12, x-tw/2, y-r-34, color.White)
	}
	drawText(dst, label, 12, x-textWidth(label, 12)/2, y+r+6, lc)
}

func playerName(v *view, seat int) string {
	if seat < len(v.players) {
		return v.players[seat].Name
	}
	return "P" + itoa(seat)
}

func seatColor(seat int) color.RGBA {
	if seat >= 0 && seat < len(PlayerColors) {
		return PlayerColors[seat]
	}
	return colText
}

func withAlpha(c color.RGBA, a uint8) color.RGBA {
	// Premultiplied: scale the channels with alpha.
	return color.RGBA{uint8(uint16(c.R) * uint16(a) / 255), uint8(uint16(c.G) * uint16(a) / 255),
		uint8(uint16(c.B) * uint16(a) / 255), a}
}
