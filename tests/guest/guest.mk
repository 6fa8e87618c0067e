# placeholder, filled below
GUEST_BUILD := build/guest
guests:
