package demo

import (
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"time"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/inpututil"

	"github.com/paxsync/paxsync/gamestate/arena"
)

// Options configures the Ebiten game.
type Options struct {
	World *World
	// Input receives the keyboard's controls and the cheat keys' state on
	// every frame; the live source submits the latest once per tick. nil
	// for a replay.
	Input func(c arena.Controls, cheats []CheatKey)
	// Cheats are the cheat keys offered to the local player.
	Cheats []CheatKey
	// ExitAfterTicks > 0 ends the game once that many agreed ticks have
	// been drawn (after writing Screenshot, if set).
	ExitAfterTicks uint64
	// Screenshot is a PNG path for the final frame.
	Screenshot string
	// ShowNet starts with the network statistics visible.
	ShowNet bool
	// Quit ends the game (RunGame returns nil) at the next update once it
	// is closed: how a signal stops the window loop.
	Quit <-chan struct{}
}

// Game implements ebiten.Game. Update samples the keyboard, Draw renders
// a snapshot of the World; neither touches game state directly.
type Game struct {
	opt     Options
	cheats  []CheatKey
	showNet bool
	shoot   bool  // the next Draw writes the screenshot
	shotErr error // set once the screenshot was attempted
	shot    bool
}

// NewGame returns the Ebiten game for opt.
func NewGame(opt Options) *Game {
	return &Game{opt: opt, cheats: append([]CheatKey(nil), opt.Cheats...), showNet: opt.ShowNet}
}

// Run opens the window and runs g until it exits; ebiten.Termination (the
// normal end of a headless run, or Options.Quit) is reported as nil. The
// window opens at IdealWidth × IdealHeight, or smaller where the monitor
// is smaller (WindowSize); the HUD is laid out for the window's size.
func Run(g *Game, title string) error {
	var mw, mh int
	if m := ebiten.Monitor(); m != nil {
		mw, mh = m.Size()
	}
	ebiten.SetWindowSize(WindowSize(mw, mh))
	ebiten.SetWindowTitle(title)
	ebiten.SetWindowResizingMode(ebiten.WindowResizingModeEnabled)
	ebiten.SetRunnableOnUnfocused(true)
	err := ebiten.RunGameWithOptions(g, &ebiten.RunGameOptions{})
	if errors.Is(err, ebiten.Termination) {
		err = nil
	}
	return err
}

// Layout makes the logical screen the window's size (at least MinWidth ×
// MinHeight; Ebiten scales that down into a smaller window), so the HUD's
// text keeps its size and the arena takes the room that is left.
func (g *Game) Layout(outsideWidth, outsideHeight int) (int, int) {
	return max(outsideWidth, MinWidth), max(outsideHeight, MinHeight)
}

// Update samples input, toggles panels and cheats, and ends the game when
// the source fails or the headless run is complete.
func (g *Game) Update() error {
	w := g.opt.World
	select {
	case <-g.opt.Quit:
		return ebiten.Termination
	default:
	}
	if g.shot {
		if g.shotErr != nil {
			return g.shotErr
		}
		return ebiten.Termination
	}
	w.mu.Lock()
	err := w.err
	w.mu.Unlock()
	if err != nil && g.opt.ExitAfterTicks > 0 {
		return err // a headless run must not hide a failure behind a screenshot
	}
	if inpututil.IsKeyJustPressed(ebiten.KeyTab) {
		g.showNet = !g.showNet
	}
	if g.opt.Input != nil {
		if inpututil.IsKeyJustPressed(PredictionKey) {
			w.TogglePrediction()
		}
		var labels []string
		for i := range g.cheats {
			if inpututil.IsKeyJustPressed(g.cheats[i].Key) {
				toggleCheat(g.cheats, i)
			}
		}
		for _, k := range g.cheats {
			if k.Active {
				labels = append(labels, k.Label)
			}
		}
		w.SetCheats(labels)
		g.opt.Input(readControls(), g.cheats)
	}
	if n := g.opt.ExitAfterTicks; n > 0 && w.Ticks() >= n {
		if g.opt.Screenshot == "" {
			return ebiten.Termination
		}
		g.shoot = true
	}
	return nil
}

// PredictionKey switches the arena between the predicted and the agreed
// state of the local session (World.TogglePrediction), so a player can
// feel the input delay prediction hides.
const PredictionKey = ebiten.KeyP

// toggleCheat flips key i; turning an Exclusive key on turns the other
// Exclusive keys off.
func toggleCheat(keys []CheatKey, i int) {
	keys[i].Active = !keys[i].Active
	if !keys[i].Active || !keys[i].Exclusive {
		return
	}
	for j := range keys {
		if j != i && keys[j].Exclusive {
			keys[j].Active = false
		}
	}
}

// readControls maps the keyboard to arena controls: left/right (A/D)
// turn at the maximum legal rate, up (W) thrusts at full legal power,
// space fires. The rules' limits are never exceeded here; that is what
// the cheat keys are for.
func readControls() arena.Controls {
	var c arena.Controls
	if ebiten.IsKeyPressed(ebiten.KeyArrowLeft) || ebiten.IsKeyPressed(ebiten.KeyA) {
		c.Turn -= arena.MaxTurn
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowRight) || ebiten.IsKeyPressed(ebiten.KeyD) {
		c.Turn += arena.MaxTurn
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowUp) || ebiten.IsKeyPressed(ebiten.KeyW) {
		c.Thrust = arena.MaxThrust
	}
	if ebiten.IsKeyPressed(ebiten.KeyArrowDown) || ebiten.IsKeyPressed(ebiten.KeyS) {
		c.Thrust = 0 // brake: no thrust, drag slows the ship
	}
	c.Fire = ebiten.IsKeyPressed(ebiten.KeySpace)
	return c
}

// Draw renders one frame from a snapshot of the world, and writes the
// screenshot when a headless run asked for it.
func (g *Game) Draw(screen *ebiten.Image) {
	v := g.opt.World.snapshot(time.Now())
	if g.shoot {
		v.alpha, v.drawAlpha = 1, 1 // the screenshot shows exactly the last tick drawn
	}
	l := newLayout(screen.Bounds().Dx(), screen.Bounds().Dy())
	screen.Fill(colBackground)
	drawTopBar(screen, &l, &v)
	if v.lobby != "" {
		drawLobby(screen, &l, v.lobby)
	} else {
		drawArena(screen, &l, &v)
		drawFlaggedBanner(screen, &l, &v)
		drawCheatBanner(screen, &l, &v)
	}
	if g.showNet {
		drawNetStrip(screen, &l, &v)
	}
	drawPanel(screen, &l, &v, g.cheats)
	drawFooter(screen, &l, &v)
	if g.shoot && !g.shot {
		g.shot = true
		g.shotErr = writePNG(screen, g.opt.Screenshot)
	}
}

// writePNG reads the screen back and encodes it; called from Draw, where
// the screen holds the finished frame.
func writePNG(screen *ebiten.Image, path string) error {
	b := screen.Bounds()
	img := image.NewRGBA(b)
	screen.ReadPixels(img.Pix)
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("screenshot: %w", err)
	}
	return f.Close()
}
