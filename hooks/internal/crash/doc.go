// Package crash holds the crash-safety test: a built server is killed with
// SIGKILL under concurrent webhook load, restarted on the same data, and
// must hold every event it acknowledged; redelivering everything, as Svix
// does, must then converge to the model.
package crash
