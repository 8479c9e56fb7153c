package losses

// SetBlockFloats sets the values per block buffer of o's EvalInPlace, so
// that tests on small layers run several blocks, some narrower than others.
func SetBlockFloats(o *Objective, n int) { o.blockFloats = n }
