package verify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/distkv/distkv/api"
	"github.com/distkv/distkv/client"
)

// The bank workload: Keys accounts, spread over the namespace's shards,
// start with bankInitial each; clients move random amounts between two
// accounts in transactions that compare both balances' versions, and
// audit every balance in one transaction. No audit may see a total other
// than the initial one (a transfer half applied, or applied twice), and
// neither may the final audit after the faults heal. A transfer of unknown
// outcome keeps the total either way, so it needs no special case.

// WorkloadBank and WorkloadRegister name the workloads.
const (
	WorkloadRegister = "register"
	WorkloadBank     = "bank"
)

const bankInitial = 100

// BankFigures are a bank run's counts.
type BankFigures struct {
	Accounts    int `json:"accounts"`
	Committed   int `json:"transfers_committed"`
	Refused     int `json:"transfers_refused"` // a comparison failed: a concurrent transfer won
	Failed      int `json:"transfers_failed"`  // certainly not applied (unavailable, conflict)
	Unknown     int `json:"transfers_unknown"`
	Audits      int `json:"audits"`
	FinalTotal  int `json:"final_total"`
	WantedTotal int `json:"wanted_total"`
	// Violations are audits that saw a wrong total, and a wrong final total.
	Violations []string `json:"violations,omitempty"`
}

func (r *runState) account(i int) string { return fmt.Sprintf("%sacct/%d", r.prefix, i) }

// setupBank opens the accounts, retrying until the faults-free cluster
// takes the transaction.
func (r *runState) setupBank(ctx context.Context) error {
	b := client.NewTxn()
	for i := range r.cfg.Keys {
		b.Put(r.account(i), strconv.Itoa(bankInitial))
	}
	var err error
	for range 20 {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = r.cl.Txn(c, b.Request())
		cancel()
		if err == nil {
			r.bank = &BankFigures{Accounts: r.cfg.Keys, WantedTotal: bankInitial * r.cfg.Keys}
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("verify: opening the bank's accounts: %w", err)
}

// audit reads every balance in one transaction and returns their total.
func (r *runState) audit(ctx context.Context) (int, error) {
	b := client.NewTxn()
	for i := range r.cfg.Keys {
		b.Get(r.account(i))
	}
	res, err := r.cl.Txn(ctx, b.Request())
	if err != nil {
		return 0, err
	}
	total := 0
	for _, x := range res.Results {
		if !x.Found {
			return 0, fmt.Errorf("account %s missing", x.Key)
		}
		v, err := strconv.Atoi(x.Value)
		if err != nil {
			return 0, fmt.Errorf("account %s holds %q", x.Key, x.Value)
		}
		total += v
	}
	return total, nil
}

// bankStep is one worker operation: an audit (one in four) or a transfer.
func (w *worker) bankStep(ctx context.Context) {
	r := w.run
	start := time.Now()
	if w.seq%4 == 1 {
		total, err := r.audit(ctx)
		o := okOutcome
		if err != nil {
			o = failedOutcome
		}
		r.note(opRecord{start: start, end: time.Now(), outcome: o})
		r.mu.Lock()
		defer r.mu.Unlock()
		if err == nil {
			r.bank.Audits++
			if total != r.bank.WantedTotal {
				r.bank.Violations = append(r.bank.Violations, fmt.Sprintf("an audit at %v saw a total of %d, not %d",
					time.Since(r.start).Round(time.Millisecond), total, r.bank.WantedTotal))
			}
		}
		return
	}
	a, b := w.rng.Intn(r.cfg.Keys), w.rng.Intn(r.cfg.Keys-1)
	if b >= a {
		b++
	}
	snap, err := r.cl.Txn(ctx, client.NewTxn().Get(r.account(a)).Get(r.account(b)).Request())
	if err != nil || len(snap.Results) != 2 {
		r.note(opRecord{start: start, end: time.Now(), outcome: failedOutcome})
		return
	}
	va, _ := strconv.Atoi(snap.Results[0].Value)
	vb, _ := strconv.Atoi(snap.Results[1].Value)
	amt := w.rng.Intn(10) + 1
	res, err := r.cl.Txn(ctx, client.NewTxn().
		If(api.TxnCompare{Key: r.account(a), Target: "version", Op: "=", Version: snap.Results[0].Version}).
		If(api.TxnCompare{Key: r.account(b), Target: "version", Op: "=", Version: snap.Results[1].Version}).
		Put(r.account(a), strconv.Itoa(va-amt)).Put(r.account(b), strconv.Itoa(vb+amt)).Request())
	o := classifyTxn(err)
	r.note(opRecord{start: start, end: time.Now(), write: true, outcome: o})
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err == nil && res.Succeeded:
		r.bank.Committed++
	case err == nil:
		r.bank.Refused++
	case o == unknownOutcome:
		r.bank.Unknown++
	default:
		r.bank.Failed++
	}
}

// classifyTxn sorts a transaction's error like a write's; a conflict with
// another transaction's lock did nothing.
func classifyTxn(err error) outcome {
	if errors.Is(err, client.ErrConflict) {
		return failedOutcome
	}
	return classifyWrite(err)
}

// finalAudit checks the total once the cluster has settled.
func (r *runState) finalAudit(ctx context.Context) {
	var err error
	for range 30 {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		var total int
		total, err = r.audit(c)
		cancel()
		if err == nil {
			r.bank.FinalTotal = total
			if total != r.bank.WantedTotal {
				r.bank.Violations = append(r.bank.Violations, fmt.Sprintf("the final total is %d, not %d", total, r.bank.WantedTotal))
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	r.bank.Violations = append(r.bank.Violations, fmt.Sprintf("the final audit never succeeded: %v", err))
}
