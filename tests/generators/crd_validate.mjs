// Validates Prometheus Operator objects (JSON documents, one per line on stdin) with the
// validators @kubernetes-models/prometheus-operator generates from the operator's CRD schemas.
// Prints one line per invalid document and exits 1 if any is invalid.
import { createInterface } from "node:readline";
import { PodMonitor, PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { AlertmanagerConfig } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1alpha1";

const kinds = { PodMonitor, PrometheusRule, AlertmanagerConfig };
let bad = 0, checked = 0;
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const doc = JSON.parse(line);
  const Kind = kinds[doc.kind];
  if (!Kind) { console.log(`${doc.kind}: no validator`); bad++; continue; }
  try { new Kind(doc).validate(); checked++; }
  catch (e) { console.log(`${doc.kind} ${doc.metadata && doc.metadata.name}: ${e.message}`); bad++; }
}
console.log(`checked ${checked}, invalid ${bad}`);
process.exit(bad ? 1 : 0);
