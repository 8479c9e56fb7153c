// Package deps pins modules in go.mod while the packages that use them are
// being written. Delete it once every module here is imported for real.
package deps

import (
	_ "github.com/disintegration/imaging"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "github.com/spf13/viper"
	_ "golang.org/x/term"
	_ "gonum.org/v1/gonum/mat"
	_ "gonum.org/v1/gonum/optimize"
	_ "gonum.org/v1/plot"
)
