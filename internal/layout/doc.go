// Package layout checks the house rules that hold across the repository (see
// CONTRIBUTING.md): every service has the one shape, no production function
// runs past 80 lines, and every package says what it is for. It has no code
// of its own; its tests are the checks.
package layout
