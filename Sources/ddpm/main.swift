import TUI
DDPMCommand.main()
