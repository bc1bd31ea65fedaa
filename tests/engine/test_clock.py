from engine import SimClock, TimerQueue


def test_timers_fire_in_order_repeat_and_cancel() -> None:
    fired: list[tuple[str, int]] = []
    q = TimerQueue()
    q.set("s", "once", 50, 0, lambda n, t: fired.append((n, t)))
    q.set("s", "every", 20, 20, lambda n, t: fired.append((n, t)))
    assert q.next_due == 20
    q.fire_due(60)
    assert fired == [("every", 20), ("every", 40), ("once", 50), ("every", 60)]
    q.cancel("s", "every")
    q.fire_due(1000)
    assert fired[-1] == ("every", 60)
    assert q.next_due == TimerQueue.NEVER


def test_rearming_replaces_the_old_due_time() -> None:
    fired: list[int] = []
    q = TimerQueue()
    q.set("s", "t", 10, 0, lambda n, t: fired.append(t))
    q.set("s", "t", 30, 0, lambda n, t: fired.append(t))
    q.fire_due(100)
    assert fired == [30]


def test_sim_clock_never_goes_back() -> None:
    c = SimClock(10)
    c.advance_to(5)
    assert c.now_ns() == 10
    c.advance_to(20)
    assert c.now_ns() == 20
