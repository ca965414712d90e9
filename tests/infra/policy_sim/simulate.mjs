// Reads a JSON array of iam-simulate Simulation objects on stdin and prints, per simulation,
// {"result": "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied" | ..., "errors": ...} as a JSON array.
// Used by tests/infra to evaluate the policies Terraform actually applied (conditions included),
// which moto does not evaluate for bucket policies.
import { runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const simulations = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const results = []
for (const simulation of simulations) {
  const outcome = await runSimulation(
    {
      identityPolicies: [],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...simulation,
    },
    {},
  )
  results.push(
    outcome.resultType === 'error'
      ? { result: 'Error', errors: outcome.errors }
      : { result: outcome.overallResult },
  )
}
process.stdout.write(JSON.stringify(results))
