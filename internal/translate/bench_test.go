package translate

import "testing"

// BenchmarkPod measures building the host copy of a pod that reads
// secrets and configMaps every way and mounts a token: the syncer does it
// on every pod event.
func BenchmarkPod(b *testing.B) {
	for mode, c := range contexts() {
		b.Run(mode, func(b *testing.B) {
			v := pod()
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Pod(v)
			}
		})
	}
}

// BenchmarkOriginOf measures the ownership check that guards every write
// and maps every host event to its virtual object.
func BenchmarkOriginOf(b *testing.B) {
	c := contexts()["single"]
	h := c.Pod(pod())
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.OriginOf(h); !ok {
			b.Fatal("not a copy")
		}
	}
}
