
b2regasorg-a"5
	111222333jan@example.nlGM0080 è*2026-W992xyz