# -*- coding: utf-8 -*-
# Python 2.7 (Autobahn|Testsuite 25.10.1 runs only there). Started by tests/autobahn/run.
#
# A thin wrapper around autobahntestsuite.fuzzing, for two reasons:
#
# * fuzzingserver picks the case from the URL (/runCase?case=N&agent=A), but the
#   gateway dials one fixed URL and redials it after every close. Here a /runCase
#   request without `case` gets the next case not yet done, so one gateway process
#   walks through every case on its own; the report is written when the last case
#   is done (or at SIGTERM). The gateway dials ws://127.0.0.1:PORT/runCase?agent=A.
# * The gateway is not an echo peer, so Autobahn's waits for an echo
#   (closeAfter/killAfter of 10 s to 1000 s in sections 1, 9 and 10) always run
#   out. --max-wait caps every such wait longer than it; Autobahn then starts its
#   closing handshake (or drops the connection) just as it would after the full
#   wait, so the closing behaviour is graded the same, only sooner. 0 = stock timings.
#
# Listeners bind to 127.0.0.1 only.

import json
import sys
import time
import argparse

from twisted.internet import reactor, task

from autobahntestsuite import fuzzing


def cap_waits(max_wait):
    if max_wait <= 0:
        return
    orig_close, orig_kill = fuzzing.FuzzingProtocol.closeAfter, fuzzing.FuzzingProtocol.killAfter

    def closeAfter(self, delay):
        return orig_close(self, min(delay, max_wait))

    def killAfter(self, delay):
        return orig_kill(self, min(delay, max_wait))

    fuzzing.FuzzingProtocol.closeAfter = closeAfter
    fuzzing.FuzzingProtocol.killAfter = killAfter


class AutoCaseServerProtocol(fuzzing.FuzzingServerProtocol):
    def onConnect(self, request):
        f = self.factory
        if request.path == "/runCase" and "case" not in request.params and "casetuple" not in request.params:
            if f.next_case > len(f.specCases):
                raise Exception("all %d cases done" % len(f.specCases))
            request.params["case"] = [str(f.next_case)]
        f.current = self
        return fuzzing.FuzzingServerProtocol.onConnect(self, request)


class AutoCaseServerFactory(fuzzing.FuzzingServerFactory):
    protocol = AutoCaseServerProtocol

    def __init__(self, spec, stall):
        fuzzing.FuzzingServerFactory.__init__(self, spec)
        self.next_case = 1
        self.current = None
        self.stall = stall
        self.last_progress = time.time()
        self.reported = False
        self.skipped = []
        task.LoopingCall(self.watchdog).start(1.0, now=False)

    def advance(self):
        self.next_case += 1
        self.last_progress = time.time()
        if self.next_case > len(self.specCases):
            print "All %d cases done." % len(self.specCases)
            self.report()
            reactor.callLater(0.2, reactor.stop)

    def logCase(self, results):
        fuzzing.FuzzingServerFactory.logCase(self, results)
        if results.get("case") == self.next_case:
            self.advance()

    def watchdog(self):
        if self.next_case > len(self.specCases) or self.stall <= 0:
            return
        if time.time() - self.last_progress > self.stall:
            cid = self.specCases[self.next_case - 1]
            print "Case %s (#%d) made no progress for %d s: skipped." % (cid, self.next_case, self.stall)
            self.skipped.append(cid)
            if self.current is not None and self.current.transport is not None:
                self.current.runCase = None  # its result is not logged
                self.current.transport.abortConnection()
            self.advance()

    def report(self):
        if not self.reported:
            self.reported = True
            self.createReports()
            if self.skipped:
                with open(self.outdir + "/skipped.json", "w") as fh:
                    json.dump(self.skipped, fh)
            print "Report written to %s" % self.outdir


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["fuzzingclient", "fuzzingserver"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--port", type=int, default=0, help="fuzzingserver: port on 127.0.0.1")
    ap.add_argument("--max-wait", type=float, default=2.0)
    ap.add_argument("--stall", type=float, default=30.0,
                    help="fuzzingserver: skip a case with no progress for this long (0 = never)")
    a = ap.parse_args()
    spec = json.load(open(a.spec))
    cap_waits(a.max_wait)

    if a.mode == "fuzzingclient":
        # Connects to spec["servers"], runs every case in turn, writes the
        # report and stops the reactor itself.
        fuzzing.startClient(spec)
    else:
        spec["url"] = "ws://127.0.0.1:%d" % a.port
        factory = AutoCaseServerFactory(spec, a.stall)
        reactor.listenTCP(a.port, factory, interface="127.0.0.1")
        reactor.addSystemEventTrigger("before", "shutdown", factory.report)
        print "fuzzingserver listening on 127.0.0.1:%d, %d cases" % (a.port, len(factory.specCases))
    sys.stdout.flush()
    reactor.run()


if __name__ == "__main__":
    main()
