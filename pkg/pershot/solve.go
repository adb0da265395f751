package pershot

// solve is the plan at multiplier lambda: for every shot the index of its
// candidate, maximising the sum over shots of seconds × (quality − lambda ×
// bitrate) less the switch cost of every change of resolution. A Viterbi
// pass: the state of a shot is the resolution it is encoded at.
func (p *problem) solve(lambda float64) []int {
	n := len(p.shots)
	val := make([][]float64, n) // best objective of shots 0..i ending in group g
	pick := make([][]int, n)    // the candidate of group g at lambda
	back := make([][]int, n)    // the group of shot i-1 on that best path
	for i := range n {
		gs := p.groups[i]
		val[i], pick[i], back[i] = make([]float64, len(gs)), make([]int, len(gs)), make([]int, len(gs))
		for g := range gs {
			j, v := p.best(i, g, lambda)
			pick[i][g], back[i][g] = j, -1
			if i > 0 {
				h := p.prev(i, g, val[i-1], pick[i-1])
				back[i][g] = h
				v += val[i-1][h] - p.switchCost(i, g, h)
			}
			val[i][g] = v
		}
	}
	g := 0
	for h := 1; h < len(val[n-1]); h++ {
		if val[n-1][h] > val[n-1][g] || (val[n-1][h] == val[n-1][g] && p.cheaper(n-1, pick[n-1][h], pick[n-1][g])) {
			g = h
		}
	}
	plan := make([]int, n)
	for i := n - 1; i >= 0; i-- {
		plan[i] = pick[i][g]
		g = back[i][g]
	}
	return plan
}

// best is shot i's candidate of group g at lambda, and its term of the
// objective. Ties go to the cheaper candidate, then the first.
func (p *problem) best(i, g int, lambda float64) (int, float64) {
	d := p.shots[i].Seconds
	bestJ, bestV := -1, 0.0
	for _, j := range p.groups[i][g].idx {
		c := p.cand(i, j)
		v := d * (c.Quality - lambda*float64(c.Bitrate))
		if bestJ < 0 || v > bestV || (v == bestV && c.Bitrate < p.cand(i, bestJ).Bitrate) {
			bestJ, bestV = j, v
		}
	}
	return bestJ, bestV
}

// prev is the group of shot i-1 that the best path into group g of shot i
// comes from. Ties go to no switch, then to the cheaper candidate, then to
// the smaller picture.
func (p *problem) prev(i, g int, val []float64, pick []int) int {
	best := 0
	score := func(h int) float64 { return val[h] - p.switchCost(i, g, h) }
	for h := 1; h < len(val); h++ {
		sh, sb := score(h), score(best)
		if sh > sb {
			best = h
			continue
		}
		if sh < sb {
			continue
		}
		stayH, stayB := p.switchCost(i, g, h) == 0, p.switchCost(i, g, best) == 0
		if (stayH && !stayB) || (stayH == stayB && p.cheaper(i-1, pick[h], pick[best])) {
			best = h
		}
	}
	return best
}

// switchCost is the cost of going from group h of shot i-1 to group g of
// shot i: nothing when their resolutions are the same.
func (p *problem) switchCost(i, g, h int) float64 {
	a, b := p.groups[i][g], p.groups[i-1][h]
	if a.width == b.width && a.height == b.height {
		return 0
	}
	return p.cost
}

// cheaper orders two candidates of shot i that tie: fewer bits first, then
// the smaller picture (cheaper to decode).
func (p *problem) cheaper(i, a, b int) bool {
	ca, cb := p.cand(i, a), p.cand(i, b)
	if ca.Bitrate != cb.Bitrate {
		return ca.Bitrate < cb.Bitrate
	}
	return ca.Width*ca.Height < cb.Width*cb.Height
}

// fill spends what the plan leaves of budget: while some shot can move up to
// a dearer, better candidate of the same resolution (so no switch is added)
// within what is left, the move with the most quality per bit is made.
// Every move adds bits, so it ends.
func (p *problem) fill(plan []int, budget float64) []int {
	for {
		left := budget - p.bits(plan)
		bestI, bestJ, bestRatio := -1, -1, 0.0
		for i, j := range plan {
			c, d := p.cand(i, j), p.shots[i].Seconds
			for _, k := range p.groupOf(i, c).idx {
				o := p.cand(i, k)
				dr, dq := float64(o.Bitrate-c.Bitrate)*d, (o.Quality-c.Quality)*d
				if dr <= 0 || dq <= 0 || dr > left {
					continue
				}
				if r := dq / dr; r > bestRatio {
					bestI, bestJ, bestRatio = i, k, r
				}
			}
		}
		if bestI < 0 {
			return plan
		}
		plan[bestI] = bestJ
	}
}

func (p *problem) groupOf(i int, c Candidate) group {
	for _, g := range p.groups[i] {
		if g.width == c.Width && g.height == c.Height {
			return g
		}
	}
	return group{}
}
