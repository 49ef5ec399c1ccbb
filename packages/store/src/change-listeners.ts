/**
 * Which registry a change notification is about. Partner applications and OAuth servers have
 * separate identity namespaces (as `Get-CsPartnerApplication` and `Get-CsOAuthServer` do in Lync),
 * so an identity alone does not say which record changed. `client` is an STS client (service
 * principal), whose identity in a notification is `<principal>@<realm>`.
 */
export type RegistryEntryKind = 'partnerApplication' | 'oauthServer' | 'client';

/**
 * Called after the registry changed. `identity` and `kind` name the record written by this store
 * object; both are `undefined` when the change came from elsewhere (another connection or process)
 * and anything may have changed, so the listener should drop everything it derived from the
 * registry. Listeners are expected not to throw; see {@link ChangeListeners.notify}.
 */
export type ChangeListener = (identity: string | undefined, kind: RegistryEntryKind | undefined) => void;

/** The subscribers of one store; each subscription is independent, even for the same function. */
export class ChangeListeners {
  readonly #entries = new Set<{ readonly listener: ChangeListener }>();

  /** Number of current subscriptions. */
  get size(): number {
    return this.#entries.size;
  }

  /** Subscribes `listener`; the returned function unsubscribes it and may be called repeatedly. */
  add(listener: ChangeListener): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError('onChange: listener must be a function');
    }
    const entry = { listener };
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  /**
   * Calls every listener subscribed at the time of the call. A listener that throws does not keep
   * the others from running (each of them may hold a cache that must be cleared), and the first
   * error is rethrown afterwards so that a broken listener is loud rather than silently stale.
   */
  notify(identity: string | undefined, kind: RegistryEntryKind | undefined): void {
    let failure: { readonly error: unknown } | undefined;
    for (const { listener } of [...this.#entries]) {
      try {
        listener(identity, kind);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }

  /** Drops every subscription. */
  clear(): void {
    this.#entries.clear();
  }
}
