package main

import (
	"os"
	"os/signal"
	"syscall"
)

func notifySignals() chan os.Signal {
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c
}

func stopSignals(c chan os.Signal) { signal.Stop(c) }
