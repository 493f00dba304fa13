"""SandboxChain: a Solana chain in-process (LiteSVM) with slots, blockhash lifetimes and history.

LiteSVM executes transactions; this class adds what a validator and its RPC node add around it:
a slot clock and block heights, blockhashes that stay valid for a number of blocks, a
transaction history with pre/post balances and an address index, dropped sends, and checks
that make a transaction fail the way an on-chain program would (the DEX's slippage check).
"""

from __future__ import annotations

import hashlib
import threading
from typing import Literal

from solders.account import Account
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM_ID
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import TransactionErrorFieldless, TransactionErrorType

from flywheel.sandbox.chain.execution import execute, simulate
from flywheel.sandbox.chain.ledger import Ledger, TxRecord
from flywheel.sandbox.chain.recorder import Keys, build_record, lamports, live
from flywheel.sandbox.chain.rewrite import Rewriter, find_rewrite, simulate_rewritten
from flywheel.sandbox.chain.tokens import (
    TOKEN_PROGRAMS,
    TokenHolding,
    parse_mint,
    parse_token_account,
)
from flywheel.sandbox.chain.txinfo import normalize, resolve_keys
from flywheel.sandbox.chain.types import (
    AlreadyProcessed,
    BlockhashNotFound,
    ExecutionCheck,
    InvalidTransaction,
    PreflightFailure,
    SendInterceptor,
    Settlement,
    SignatureVerificationFailure,
    SimulationResult,
)
from flywheel.sandbox.clock import SlotClock
from flywheel.sandbox.faults import Faults

Confirmation = Literal["processed", "confirmed", "finalized"]

# Block height trails the slot by a constant, as skipped slots make it do on a real cluster, so
# code that mixes the two up is caught by tests instead of passing by coincidence.
BLOCK_HEIGHT_LAG = 50
DEFAULT_START_SLOT = 1_000
STATUS_CACHE_SLOTS = 300  # what getSignatureStatuses sees without searchTransactionHistory
RECENT_FEE_SLOTS = 150
_FAUCET_LAMPORTS = 100_000_000 * 1_000_000_000


class SandboxChain:
    """A local Solana chain; every method is thread-safe (they hold `lock`)."""

    def __init__(
        self,
        *,
        slot_ms: int = 400,
        faults: Faults | None = None,
        start_slot: int = DEFAULT_START_SLOT,
        genesis_unix: int | None = None,
    ) -> None:
        self.svm = LiteSVM()
        # Blockhashes and signatures are checked here instead: LiteSVM only knows one blockhash,
        # and a simulation may be asked for without signatures.
        self.svm.with_blockhash_check(False).with_sigverify(False).with_transaction_history(0)
        self.lock = threading.RLock()
        self.faults = faults if faults is not None else Faults()
        self.priority_fee_floor = 0  # micro-lamports per CU reported for quiet slots
        self._clock = SlotClock(slot_ms=slot_ms, start_slot=start_slot, genesis_unix=genesis_unix)
        self._ledger = Ledger()
        self._checks: list[ExecutionCheck] = []
        self.rewriters: list[Rewriter] = []  # emulated programs (sandbox/pump): rewrite.py
        self.settlements: list[Settlement] = []  # the market's, when it is switched on
        self.interceptor: SendInterceptor | None = None  # see flywheel.sandbox.chain.routes
        self._decimals: dict[Pubkey, int] = {}
        self._blockhashes: dict[Hash, int] = {}
        self._synced_slot = -1
        self._current_hash = self.svm.latest_blockhash()
        self._airdrops = 0
        self.faucet = Keypair.from_seed(hashlib.sha256(b"flywheel-sandbox-faucet").digest())
        self._fund_faucet()
        self._sync()

    # -- time -------------------------------------------------------------------------------

    def slot(self) -> int:
        with self.lock:
            self._sync()
            return self._synced_slot

    def first_slot(self) -> int:
        """The chain's first slot: the sandbox keeps every transaction since."""
        return self._clock.start_slot

    def block_height(self) -> int:
        with self.lock:
            self._sync()
            return self._synced_slot - BLOCK_HEIGHT_LAG

    def block_time(self, slot: int) -> int:
        return self._clock.unix_time(slot)

    def advance(self, slots: int = 1) -> None:
        with self.lock:
            self._clock.step(slots)
            self._sync()

    def latest_blockhash(self) -> tuple[Hash, int]:
        with self.lock:
            self._sync()
            issued = self._blockhashes[self._current_hash]
            return self._current_hash, issued + self.faults.blockhash_lifetime_blocks

    def is_blockhash_valid(self, blockhash: Hash) -> bool:
        with self.lock:
            self._sync()
            issued = self._blockhashes.get(blockhash)
            if issued is None:
                return False
            return self.block_height() <= issued + self.faults.blockhash_lifetime_blocks

    def _sync(self) -> None:
        slot = self._clock.slot()
        if slot == self._synced_slot:
            return
        self._synced_slot = slot
        self.svm.expire_blockhash()
        self._current_hash = self.svm.latest_blockhash()
        height = slot - BLOCK_HEIGHT_LAG
        self._blockhashes[self._current_hash] = height
        clock = self.svm.get_clock()
        clock.slot = slot
        clock.unix_timestamp = self._clock.unix_time(slot)
        self.svm.set_clock(clock)
        keep = max(self.faults.blockhash_lifetime_blocks, 300) + 1
        while self._blockhashes:
            oldest = next(iter(self._blockhashes))
            if self._blockhashes[oldest] >= height - keep:
                break
            del self._blockhashes[oldest]

    # -- accounts ---------------------------------------------------------------------------

    def get_account(self, pubkey: Pubkey) -> Account | None:
        with self.lock:
            return live(self.svm.get_account(pubkey))

    def set_account(self, pubkey: Pubkey, account: Account) -> None:
        with self.lock:
            self.svm.set_account(pubkey, account)

    def balance(self, pubkey: Pubkey) -> int:
        account = self.get_account(pubkey)
        return 0 if account is None else account.lamports

    def minimum_balance_for_rent_exemption(self, data_len: int) -> int:
        with self.lock:
            return self.svm.minimum_balance_for_rent_exemption(data_len)

    def token_accounts_by_owner(
        self, owner: Pubkey, *, mint: Pubkey | None = None, program_id: Pubkey | None = None
    ) -> list[tuple[TokenHolding, Account]]:
        programs = [program_id] if program_id is not None else sorted(TOKEN_PROGRAMS, key=str)
        out: list[tuple[TokenHolding, Account]] = []
        with self.lock:
            for program in programs:
                for address, account in self.svm.get_program_accounts(program):
                    holding = parse_token_account(address, account)
                    if holding is None or holding.owner != owner:
                        continue
                    if mint is None or holding.mint == mint:
                        out.append((holding, account))
        return out

    def mint_decimals(self, mint: Pubkey) -> int | None:
        with self.lock:
            cached = self._decimals.get(mint)
            if cached is not None:
                return cached
            account = self.svm.get_account(mint)
            parsed = None if account is None else parse_mint(account)
            if parsed is None:
                return None
            self._decimals[mint] = parsed.decimals
            return parsed.decimals

    # -- transactions -----------------------------------------------------------------------

    def add_execution_check(self, check: ExecutionCheck) -> None:
        with self.lock:
            self._checks.append(check)

    def airdrop(self, pubkey: Pubkey, lamports: int) -> Signature:
        """A faucet transfer, so it shows in history like any transfer (fee detection sees it)."""
        if lamports <= 0:
            raise ValueError("airdrop needs a positive amount")
        with self.lock:
            self._sync()
            self._airdrops += 1
            faucet = self.svm.get_account(self.faucet.pubkey())
            if faucet is None or faucet.lamports < lamports + _FAUCET_LAMPORTS // 2:
                self._fund_faucet(lamports)
            # A blockhash of its own, so equal airdrops in one slot stay distinct transactions.
            blockhash = Hash.hash(f"sandbox-airdrop-{self._airdrops}".encode())
            ix = transfer(
                TransferParams(
                    from_pubkey=self.faucet.pubkey(), to_pubkey=pubkey, lamports=lamports
                )
            )
            tx = normalize(
                Transaction([self.faucet], Message([ix], self.faucet.pubkey()), blockhash)
            )
            sim = self._simulate(tx, addresses=None, check_blockhash=False, run_checks=False)
            if sim.err is not None:
                raise PreflightFailure(sim.err, sim.logs, sim.units)
            self._execute(tx, run_checks=False)
            return tx.signatures[0]

    def send(
        self, tx: Transaction | VersionedTransaction, *, skip_preflight: bool = False
    ) -> Signature:
        """Send as sendTransaction does. With skip_preflight, a transaction that cannot land
        (expired blockhash, unpayable fee) is accepted and silently never lands, like on a real
        cluster; with preflight it raises PreflightFailure (BlockhashNotFound, AlreadyProcessed).
        """
        vtx = normalize(tx)
        with self.lock:
            self._sync()
            self._verify(vtx)
            signature = vtx.signatures[0]
            if self._ledger.get(signature) is not None:
                if skip_preflight:
                    return signature
                raise AlreadyProcessed
            if not skip_preflight:
                sim = self._simulate(vtx, addresses=None, check_blockhash=True, run_checks=True)
                if sim.err == TransactionErrorFieldless.BlockhashNotFound:
                    raise BlockhashNotFound
                if sim.err is not None:
                    raise PreflightFailure(sim.err, sim.logs, sim.units)
            elif not self._blockhash_ok(vtx):
                return signature
            if self.faults.roll(self.faults.drop_sends_rate):
                return signature
            self._execute(vtx, run_checks=True)
            return signature

    def simulate(
        self,
        tx: Transaction | VersionedTransaction,
        *,
        accounts: list[Pubkey] | None = None,
        sig_verify: bool = False,
        replace_blockhash: bool = False,
    ) -> SimulationResult:
        vtx = normalize(tx)
        with self.lock:
            self._sync()
            if sig_verify:
                self._verify(vtx)
            else:
                self._sanitize(vtx)
            return self._simulate(
                vtx, addresses=accounts, check_blockhash=not replace_blockhash, run_checks=True
            )

    def get_transaction(self, sig: Signature) -> TxRecord | None:
        with self.lock:
            return self._ledger.get(sig)

    def signatures_for_address(
        self,
        addr: Pubkey,
        *,
        before: Signature | None = None,
        until: Signature | None = None,
        limit: int = 1000,
    ) -> list[TxRecord]:
        with self.lock:
            return self._ledger.for_address(addr, before=before, until=until, limit=limit)

    def signature_status(
        self, sig: Signature, *, search_history: bool = True
    ) -> tuple[int, TransactionErrorType | None, Confirmation] | None:
        with self.lock:
            self._sync()
            record = self._ledger.get(sig)
            if record is None:
                return None
            if not search_history and record.slot < self._synced_slot - STATUS_CACHE_SLOTS:
                return None
            return record.slot, record.err, "finalized"

    def recent_prioritization_fees(self, addresses: list[Pubkey]) -> list[tuple[int, int]]:
        """(slot, fee) for recent slots: the lowest price that landed there writing any of
        `addresses` (any transaction when empty), or the floor when nothing did."""
        with self.lock:
            self._sync()
            first = max(self._clock.start_slot, self._synced_slot - RECENT_FEE_SLOTS + 1)
            lowest = self._ledger.lowest_prices(first, set(addresses))
            floor = self.priority_fee_floor
            return [
                (slot, max(floor, lowest.get(slot, floor)))
                for slot in range(first, self._synced_slot + 1)
            ]

    # -- internals (caller holds the lock) --------------------------------------------------

    def _fund_faucet(self, extra: int = 0) -> None:
        self.svm.set_account(
            self.faucet.pubkey(),
            Account(_FAUCET_LAMPORTS + extra, b"", SYSTEM_PROGRAM_ID, False, 0),
        )

    def _sanitize(self, tx: VersionedTransaction) -> None:
        try:
            tx.sanitize()
        except Exception as exc:  # solders raises its own error types for malformed messages
            raise InvalidTransaction(str(exc)) from exc

    def _verify(self, tx: VersionedTransaction) -> None:
        self._sanitize(tx)
        if not all(tx.verify_with_results()):
            raise SignatureVerificationFailure

    def _blockhash_ok(self, tx: VersionedTransaction) -> bool:
        return self.is_blockhash_valid(tx.message.recent_blockhash)

    def _check(self, tx: VersionedTransaction) -> tuple[int, int] | None:
        for check in self._checks:
            verdict = check(tx)
            if verdict is not None:
                return verdict
        return None

    def _load(self, pubkey: Pubkey) -> Account | None:
        return self.svm.get_account(pubkey)

    def _simulate(
        self,
        tx: VersionedTransaction,
        *,
        addresses: list[Pubkey] | None,
        check_blockhash: bool,
        run_checks: bool,
    ) -> SimulationResult:
        if check_blockhash and not self._blockhash_ok(tx):
            return SimulationResult(TransactionErrorFieldless.BlockhashNotFound, [], 0, 0)
        keys = resolve_keys(tx, self._load)[0]  # an unresolvable lookup table is refused up front
        verdict = self._check(tx) if run_checks else None
        rewrite = find_rewrite(self.rewriters, tx) if verdict is None else None
        if rewrite is not None:
            sim = lambda t: simulate(self.svm, t, keys, None, addresses)  # noqa: E731
            return simulate_rewritten(sim, self.svm, rewrite, keys[0], addresses)
        return simulate(self.svm, tx, keys, verdict, addresses)

    def _get(self, pubkey: Pubkey) -> Account | None:
        return live(self.svm.get_account(pubkey))

    def _execute(self, tx: VersionedTransaction, *, run_checks: bool) -> TxRecord | None:
        """Run it for real and record it; None when it cannot land (its fee is not paid)."""
        keys = Keys(*resolve_keys(tx, self._load))
        pre = [self._get(k) for k in keys.all]
        verdict = self._check(tx) if run_checks else None
        rewrite = find_rewrite(self.rewriters, tx) if verdict is None else None
        settlements = self.settlements if run_checks else []
        outcome = execute(self.svm, tx, keys.all, pre[0], verdict, rewrite, settlements)
        if outcome is None:
            return None
        post = [self._get(k) for k in keys.all]
        if outcome.err is not None and lamports(pre[0]) == lamports(post[0]):
            return None  # refused before the fee was taken: nothing landed
        slot = self._synced_slot
        record = build_record(
            seq=self._ledger.next_seq(),
            tx=tx,
            slot=slot,
            block_time=self._clock.unix_time(slot),
            keys=keys,
            outcome=outcome,
            pre=pre,
            post=post,
            decimals_of=self.mint_decimals,
        )
        self._ledger.add(record)
        return record
