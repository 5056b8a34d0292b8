// Package bucket decides which bucket (an hour in production) every event goes to, and
// carries that decision through Beam's windowing.
//
// # Behavior
//
// An event with bucket time t published at p goes to the bucket of t, unless t + L < p (its
// bucket has closed) or t − p > MaxFuture (a wrong clock): then it goes to the bucket of
// p − L, the oldest one still open, and is counted as skewed. A bucket that already has a
// manifest is closed for good: its events move on to the next open bucket, counted as
// skewed, unless the manifest was written by this same run id (a rerun of a replay).
//
// Beam Go has no fixed-window offset, so the bucket is carried in the timestamp: every
// element of bucket H is stamped C(H) − 1ms, where C(H) = H + W + L is its close time, and
// windowed into fixed windows of gcd(W, L). The window holding the bucket ends exactly at
// C(H). Stamps only move forward (C(H) > p), so nothing becomes late.
//
// The geometry itself (output.Layout) and the manifest check (output.Closes) are part of
// the output contract, package output; this package carries them through Beam.
package bucket
