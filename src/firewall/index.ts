/** The firewall: the only code that runs iptables/ip6tables (see firewall.ts, rules.ts, ports.ts). */
export { Firewall, FirewallError, type FirewallOptions } from './firewall';
export { wantsFamily, type FirewallNetwork, type PortsNetwork } from './network';
export { PortPublisher, type PortPublisherOptions, type PublishRequest, type ReconcileResult } from './ports';
export { PortAllocatedError } from './host-port';
export { parseBackendSetting, type BackendName, type IpFamily } from './backend';
export { chainNames, type ChainNames } from './rules';
export { vxlanInputRules, type VxlanInputFilter } from './vxlan-input';
export { RelayBudget, RELAY_BUDGET } from './relay-budget';
