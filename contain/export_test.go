package contain

import "time"

// SetEndWait shortens how long a stop or kill waits to see the container
// end, for tests of a signal that ends nothing.
func SetEndWait(c *Containment, d time.Duration) { c.endWait = d }
