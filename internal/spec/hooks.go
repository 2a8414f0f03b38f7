package spec

import "time"

// Hooks are a service's hooks: a command or a webhook run at fixed
// points of every rollout of the service. Each is optional; default none.
//
//   - PreRollout runs before anything is deployed; a failure ends the
//     rollout Failed and nothing is deployed.
//   - PrePromotion is a confirm gate right before the new version takes
//     all traffic: before a blue-green switch, before a canary's
//     setWeight 100 or its final promotion, before a rolling rollout
//     removes its first old instance. A failure ends the rollout Failed
//     if no user traffic reached the new version yet, RolledBack
//     otherwise.
//   - PostPromotion runs once the rollout Completed; a failure is
//     recorded in the event log, nothing is rolled back.
//   - OnRollback runs once the rollout ended RolledBack, Failed or
//     Aborted (the payload's phase says which).
//
// A hook that ran to an end never runs again in the same rollout; a gate
// hook that had not ended when bluejay stopped runs again after the
// restart, so hooks should be idempotent.
type Hooks struct {
	PreRollout    *Hook `yaml:"preRollout"`
	PrePromotion  *Hook `yaml:"prePromotion"`
	PostPromotion *Hook `yaml:"postPromotion"`
	OnRollback    *Hook `yaml:"onRollback"`
}

// Hook names, as written in YAML and in the engine.
const (
	HookPreRollout    = "preRollout"
	HookPrePromotion  = "prePromotion"
	HookPostPromotion = "postPromotion"
	HookOnRollback    = "onRollback"
)

// ByName returns the configured hooks by name, in the order a rollout
// reaches them, leaving out those not set.
func (h *Hooks) ByName() []NamedHook {
	var out []NamedHook
	for _, n := range []NamedHook{{HookPreRollout, h.PreRollout}, {HookPrePromotion, h.PrePromotion},
		{HookPostPromotion, h.PostPromotion}, {HookOnRollback, h.OnRollback}} {
		if n.Hook != nil {
			out = append(out, n)
		}
	}
	return out
}

// Get returns the hook of that name, nil if it is not set.
func (h *Hooks) Get(name string) *Hook {
	for _, n := range h.ByName() {
		if n.Name == name {
			return n.Hook
		}
	}
	return nil
}

// NamedHook is a hook with its name.
type NamedHook struct {
	Name string
	Hook *Hook
}

// Hook is one command or webhook. Exactly one of Command and Webhook is
// required. It receives a JSON payload describing the rollout (hook,
// service, rolloutId, strategy, from, to, phase, reason, weights,
// exposure): a command on its standard input, with BLUEJAY_HOOK,
// BLUEJAY_SERVICE, BLUEJAY_ROLLOUT_ID, BLUEJAY_STRATEGY, BLUEJAY_FROM,
// BLUEJAY_TO and BLUEJAY_PHASE in its environment, passing when it exits
// 0; a webhook as the body of a POST, passing on a 2xx answer.
type Hook struct {
	// Command is the program and its arguments, run in the config file's
	// directory. Default none.
	Command []string `yaml:"command"`
	// Webhook is an http or https URL. Default none.
	Webhook string `yaml:"webhook"`
	// Headers are added to the webhook's request (an Authorization, say).
	// Default none; webhooks only.
	Headers map[string]string `yaml:"headers"`
	// Timeout bounds one attempt. Default 30s; must be more than 0.
	Timeout Duration `yaml:"timeout"`
	// Retries is how many more attempts a failed one gets. Default 2;
	// 0: one attempt only.
	Retries int `yaml:"retries"`
	// RetryDelay is the wait between attempts. Default 5s; 0 retries at
	// once.
	RetryDelay Duration `yaml:"retryDelay"`
}

func (h *Hooks) applyDefaults(d defaulter, path string) {
	for _, n := range h.ByName() {
		p := path + "." + n.Name
		d.duration(&n.Hook.Timeout, p+".timeout", 30*time.Second)
		d.int(&n.Hook.Retries, p+".retries", 2)
		d.duration(&n.Hook.RetryDelay, p+".retryDelay", 5*time.Second)
	}
}
