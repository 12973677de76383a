#!/usr/bin/env python3
"""Per-role figures from Autobahn's reports: python3 summarize.py OUTDIR ROLE...

Reads OUTDIR/ROLE/index.json and the per-case JSON it points to; prints counts of
behavior and behaviorClose, which non-OK closes came after Autobahn's own timer
(it was waiting for an echo the gateway never sends), and the cases in which the
gateway itself had to fail the connection (protocol errors). Writes OUTDIR/summary.json.
"""
import json
import os
import sys

BEHAVIOR = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"]
CLOSE = ["OK", "NON-STRICT", "INFORMATIONAL", "WRONG CODE", "UNCLEAN", "FAILED",
         "FAILED BY CLIENT", "UNIMPLEMENTED"]


def case_key(cid):
    return tuple(int(x) for x in cid.split("."))


def counts(values, order):
    c = {k: 0 for k in order}
    for v in values:
        c[v] = c.get(v, 0) + 1
    return c


def fmt(c):
    return ", ".join("%s %d" % (k, v) for k, v in c.items() if v or k in ("OK", "FAILED", "UNCLEAN"))


def timer_fired(d):
    """Autobahn closed (TIE) or failed (KLE) the connection when its own wait ran out."""
    return any(w and w[0] in ("KLE", "TIE") for w in d.get("wirelog") or [])


def detail(cid, d):
    ec = d.get("expectedClose") or {}
    return ("%s: behavior %s, behaviorClose %s (%s); expected close %s by %s, got remote %s %r, "
            "local %s; %d frames received; wasClean %s, closedByMe %s, droppedByMe %s, failedByMe %s%s%s" % (
                cid, d["behavior"], d["behaviorClose"], d.get("resultClose"),
                "/".join(str(x) for x in ec.get("closeCode", [])),
                "Autobahn" if ec.get("closedByMe") else "the gateway",
                d.get("remoteCloseCode"), d.get("remoteCloseReason"), d.get("localCloseCode"), len(d.get("received") or []),
                d.get("wasClean"), d.get("closedByMe"), d.get("droppedByMe"), d.get("failedByMe"),
                ", wasNotCleanReason %r" % d["wasNotCleanReason"] if d.get("wasNotCleanReason") else "",
                ", after Autobahn's own timeout" if timer_fired(d) else ""))


def role_summary(outdir, role):
    idx_path = os.path.join(outdir, role, "index.json")
    if not os.path.exists(idx_path):
        print("== %s: no report (%s missing)" % (role, idx_path))
        return None
    index = json.load(open(idx_path))
    agent_cases = next(iter(index.values()), {}) if index else {}
    cases = {}
    for cid, e in agent_cases.items():
        with open(os.path.join(outdir, role, e["reportfile"])) as fh:
            cases[cid] = json.load(fh)
    ids = sorted(cases, key=case_key)
    spec_path = os.path.join(outdir, role, "spec.json")
    skipped_path = os.path.join(outdir, role, "skipped.json")
    skipped = json.load(open(skipped_path)) if os.path.exists(skipped_path) else []
    secs_path = os.path.join(outdir, role, "seconds")
    secs = open(secs_path).read().strip() if os.path.exists(secs_path) else "?"

    beh = counts((cases[c]["behavior"] for c in ids), BEHAVIOR)
    clo = counts((cases[c]["behaviorClose"] for c in ids), CLOSE)
    bad_close = [c for c in ids if cases[c]["behaviorClose"] not in ("OK", "INFORMATIONAL", "NON-STRICT")]
    bad_close_timer = [c for c in bad_close if timer_fired(cases[c])]
    bad_close_own = [c for c in bad_close if not timer_fired(cases[c])]
    unclean = [c for c in ids if cases[c]["behaviorClose"] == "UNCLEAN"]
    # Cases where the gateway must fail the connection itself (bad framing, bad UTF-8,
    # bad close frames): no echo is involved, so behavior FAILED here is a real failure.
    must_fail = [c for c in ids if not (cases[c].get("expectedClose") or {}).get("closedByMe", True)]
    proto_failed = [c for c in must_fail
                    if cases[c]["behaviorClose"] not in ("OK", "INFORMATIONAL", "NON-STRICT")]
    # Closed as required, but the frames received before differ from Autobahn's list
    # (the gateway's own lifecycle event in the reverse role, an error answer, ...).
    frames_differ = [c for c in must_fail if c not in proto_failed
                     and cases[c]["behavior"] in ("FAILED", "UNIMPLEMENTED")]

    print("== %s: %d cases in %ss%s" % (role, len(ids), secs,
                                       ", %d skipped (no progress): %s" % (len(skipped), " ".join(skipped)) if skipped else ""))
    print("   behavior:      " + fmt(beh))
    print("   behaviorClose: " + fmt(clo))
    print("   non-OK closes: %d after Autobahn's own timeout (it waited for an echo), %d without"
          % (len(bad_close_timer), len(bad_close_own)))
    print("   UNCLEAN: %d (%d after Autobahn's own timeout)" % (len(unclean), len([c for c in unclean if timer_fired(cases[c])])))
    mf_b = counts((cases[c]["behavior"] for c in must_fail), BEHAVIOR)
    mf_c = counts((cases[c]["behaviorClose"] for c in must_fail), CLOSE)
    print("   gateway must fail the connection: %d cases; behavior %s; behaviorClose %s"
          % (len(must_fail), fmt(mf_b), fmt(mf_c)))
    print("   protocol-level failures (of those, behaviorClose not OK): %d" % len(proto_failed))
    print("   closed as required, but other frames received before (behavior FAILED): %d" % len(frames_differ))
    for title, lst in (("UNCLEAN", [c for c in unclean if not timer_fired(cases[c])] or unclean),
                       ("non-OK close without Autobahn's timeout", bad_close_own),
                       ("protocol-level failure", proto_failed),
                       ("frames differ", frames_differ[:1])):
        for c in lst[:4]:
            print("     e.g. [%s] %s" % (title, detail(c, cases[c])))
    return {
        "cases": len(ids), "seconds": secs, "skipped": skipped,
        "behavior": beh, "behaviorClose": clo,
        "non_ok_close_after_autobahn_timeout": bad_close_timer,
        "non_ok_close_without_timeout": bad_close_own,
        "unclean": unclean,
        "gateway_must_fail": {"cases": len(must_fail), "behavior": mf_b, "behaviorClose": mf_c},
        "protocol_failed": proto_failed,
        "must_fail_closed_ok_frames_differ": frames_differ,
    }


def main():
    outdir, roles = sys.argv[1], sys.argv[2:]
    print("\n==== Autobahn|Testsuite (reports under %s/<role>/)" % outdir)
    print("The gateway does not echo: behavior FAILED is expected where a case waits for an echo.")
    res = {}
    ok = True
    for r in roles:
        s = role_summary(outdir, r)
        ok = ok and s is not None
        res[r] = s
    with open(os.path.join(outdir, "summary.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
