package drill

import (
	"regexp"
	"sort"
)

// Technique is one MITRE ATT&CK technique a scenario may name.
type Technique struct {
	ID   string `json:"id"`   // T1611, or a sub-technique such as T1552.007
	Name string `json:"name"` // as ATT&CK names it
}

// techniques are the ATT&CK techniques a scenario may name: every technique
// of the ATT&CK for Containers matrix, with the sub-techniques that apply to
// containers, and the Enterprise techniques a container incident commonly
// shows (command and control, tool transfer, impact on data).
var techniques = map[string]string{
	// Initial access
	"T1190":     "Exploit Public-Facing Application",
	"T1133":     "External Remote Services",
	"T1078":     "Valid Accounts",
	"T1078.001": "Default Accounts",
	"T1078.003": "Local Accounts",
	// Execution
	"T1609":     "Container Administration Command",
	"T1610":     "Deploy Container",
	"T1053":     "Scheduled Task/Job",
	"T1053.003": "Cron",
	"T1053.007": "Container Orchestration Job",
	"T1059":     "Command and Scripting Interpreter",
	"T1059.004": "Unix Shell",
	"T1204":     "User Execution",
	"T1204.003": "Malicious Image",
	// Persistence
	"T1098":     "Account Manipulation",
	"T1098.004": "SSH Authorized Keys",
	"T1136":     "Create Account",
	"T1136.001": "Local Account",
	"T1525":     "Implant Internal Image",
	"T1543":     "Create or Modify System Process",
	"T1543.002": "Systemd Service",
	"T1543.005": "Container Service",
	"T1556":     "Modify Authentication Process",
	// Privilege escalation
	"T1611":     "Escape to Host",
	"T1068":     "Exploitation for Privilege Escalation",
	"T1548":     "Abuse Elevation Control Mechanism",
	"T1548.001": "Setuid and Setgid",
	// Defense evasion
	"T1612":     "Build Image on Host",
	"T1562":     "Impair Defenses",
	"T1562.001": "Disable or Modify Tools",
	"T1562.004": "Disable or Modify System Firewall",
	"T1070":     "Indicator Removal",
	"T1070.002": "Clear Linux or Mac System Logs",
	"T1070.003": "Clear Command History",
	"T1070.004": "File Deletion",
	"T1036":     "Masquerading",
	"T1036.005": "Match Legitimate Name or Location",
	"T1550":     "Use Alternate Authentication Material",
	"T1550.001": "Application Access Token",
	"T1564":     "Hide Artifacts",
	"T1222":     "File and Directory Permissions Modification",
	"T1222.002": "Linux and Mac File and Directory Permissions Modification",
	"T1027":     "Obfuscated Files or Information",
	"T1014":     "Rootkit",
	// Credential access
	"T1110":     "Brute Force",
	"T1110.001": "Password Guessing",
	"T1110.003": "Password Spraying",
	"T1110.004": "Credential Stuffing",
	"T1528":     "Steal Application Access Token",
	"T1552":     "Unsecured Credentials",
	"T1552.001": "Credentials In Files",
	"T1552.007": "Container API",
	"T1003":     "OS Credential Dumping",
	"T1003.007": "Proc Filesystem",
	// Discovery
	"T1613": "Container and Resource Discovery",
	"T1046": "Network Service Discovery",
	"T1069": "Permission Groups Discovery",
	"T1057": "Process Discovery",
	"T1083": "File and Directory Discovery",
	"T1049": "System Network Connections Discovery",
	"T1082": "System Information Discovery",
	// Collection, command and control, exfiltration
	"T1005":     "Data from Local System",
	"T1071":     "Application Layer Protocol",
	"T1071.001": "Web Protocols",
	"T1095":     "Non-Application Layer Protocol",
	"T1105":     "Ingress Tool Transfer",
	"T1571":     "Non-Standard Port",
	"T1572":     "Protocol Tunneling",
	"T1090":     "Proxy",
	"T1041":     "Exfiltration Over C2 Channel",
	"T1048":     "Exfiltration Over Alternative Protocol",
	// Impact
	"T1485":     "Data Destruction",
	"T1486":     "Data Encrypted for Impact",
	"T1489":     "Service Stop",
	"T1490":     "Inhibit System Recovery",
	"T1496":     "Resource Hijacking",
	"T1496.001": "Compute Hijacking",
	"T1498":     "Network Denial of Service",
	"T1499":     "Endpoint Denial of Service",
	"T1531":     "Account Access Removal",
}

var techniquePattern = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)

// TechniqueName is the name of an ATT&CK technique this package knows, and
// whether it knows it.
func TechniqueName(id string) (string, bool) {
	n, ok := techniques[id]
	return n, ok
}

// Techniques lists the techniques a scenario may name, by ID.
func Techniques() []Technique {
	out := make([]Technique, 0, len(techniques))
	for id, n := range techniques {
		out = append(out, Technique{ID: id, Name: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
