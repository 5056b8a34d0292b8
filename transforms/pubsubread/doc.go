// Package pubsubread is the pipeline's Pub/Sub source: Read, a splittable DoFn on the Pub/Sub
// Go client for Prism and other portable runners, and Native, Beam's pubsubio for Dataflow.
// Both return an unbounded PCollection<message.Message> whose elements are timestamped with
// their publish time.
//
// # Acknowledgement on Prism (Read)
//
// Read acknowledges a message only after the runner has committed the bundle that emitted it,
// so a message is never lost: if the bundle fails or the process dies before the commit, the
// message is not acked and Pub/Sub redelivers it once its ack deadline expires. Delivery is
// therefore at least once; the pipeline dedupes by event id.
//
// It does not use bundle finalization for this: in Beam Go v2.77.0 only the first bundle of
// each plan instance gets its finalization callbacks run. Instead the restriction carries the
// ack ids. Each bundle pulls (synchronous Pull with ReturnImmediately, two requests in flight,
// see WithPullConcurrency) until WithMaxBundle's size or duration is reached or a pull comes
// back empty, emits, and checkpoints with sdf.ResumeProcessingIn; the residual restriction
// holds the ack ids of the messages the bundle emitted. The runner commits that residual atomically with the
// bundle's output and schedules it only afterwards, so the bundle that resumes it first acks
// those ids, then pulls. Acks thus trail commits by about one poll interval.
//
// Until they are acked, the emitted messages' ack deadlines are extended (ModifyAckDeadline)
// by the subscription's ack deadline whenever they near expiry, for at most WithMaxLease, in
// case the runner is slow to resume. Dynamic splits requested by the runner are declined: Prism
// schedules such residuals at once, before the bundle is committed. Messages pulled but not
// emitted (the restriction finished under the reader) are nacked. Acks that fail are logged
// and counted (metric pubsubread/ack_errors); those messages come back as duplicates.
//
// A redelivered message keeps its original publish time in the Message, but it is stamped
// with the reader's watermark when its publish time is behind it, so that it never becomes
// late data (which runners drop); bucket.Assign then puts it in the oldest bucket still open,
// counted as skewed.
//
// # Acknowledgement on Dataflow (Native)
//
// On Dataflow, Native becomes Dataflow's own Pub/Sub source (beam:transform:pubsub_read:v1).
// Dataflow acks a message once the first fused stage's output is durably committed in
// Streaming Engine, dedupes redeliveries by Pub/Sub message id (and by the id attribute when
// one is given) for a limited window, and derives the watermark from the subscription's
// backlog. Native works only on Dataflow.
//
// # Watermark (Read)
//
// The watermark never moves back. After a pull that returned messages it moves to the oldest
// publish time among them (more may wait on the subscription). After an empty pull the
// subscription is drained for now, and it moves to now minus the allowance
// (2s: the time a published message may take to become visible to Pull). So an idle subscription's watermark follows the clock,
// and hours close.
//
// # Graceful stop (Read)
//
// A Stopper (NewStopper, WithStopper) stops the reader: on Stop it pulls no more, checkpoints
// once more so that the last bundle's messages are acked after their commit, then finishes
// (sdf.StopProcessing). Its output watermark then goes to the end of time, the pipeline drains
// and beam.Run returns nil. As with a Dataflow drain, every open window downstream then fires
// as if complete; DESIGN.md's wall-clock rule keeps hours that are not over from closing. Wire Stop to SIGINT/SIGTERM with Stopper.StopWhenDone and keep
// beam.Run's own context uncancelled; cancelling it aborts the job instead. The Stopper
// reaches the reader through an in-process registry, which suits Prism's loopback workers.
package pubsubread
